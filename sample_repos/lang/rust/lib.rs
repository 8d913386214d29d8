use std::collections::HashMap;
use crate::pricing::lookup_price;

pub const MAX_ITEMS: usize = 100;
static DEFAULT_NAME: &str = "main";

pub trait Storage {
    fn save(&mut self, key: &str, value: u32);
}

pub type ItemMap = HashMap<String, Item>;

#[derive(Debug, Clone)]
pub struct Item {
    pub name: String,
    pub qty: u32,
}

pub enum Status {
    Active,
    Archived,
}

pub struct InventoryService {
    items: ItemMap,
}

impl InventoryService {
    pub fn new() -> Self {
        InventoryService { items: HashMap::new() }
    }

    pub fn add_item(&mut self, name: &str, qty: u32) -> Option<Item> {
        if self.items.len() >= MAX_ITEMS {
            return None;
        }
        let item = Item { name: name.to_string(), qty };
        self.items.insert(name.to_string(), item.clone());
        Some(item)
    }
}

pub mod reports {
    pub fn summary() -> String {
        String::from("ok")
    }
}

pub fn compute_total(service: &InventoryService) -> f64 {
    let price = lookup_price(service.items.len());
    normalize(price)
}

fn normalize(v: f64) -> f64 {
    v.round()
}
