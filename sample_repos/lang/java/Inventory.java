package com.example.shop;

import java.util.HashMap;
import java.util.Map;

interface Storage {
    void save(String key, int value);
}

enum Status { ACTIVE, ARCHIVED }

record Item(String name, int qty) {}

public class InventoryService implements Storage {
    public static final int MAX_ITEMS = 100;
    private final Map<String, Item> items = new HashMap<>();

    public InventoryService() {
    }

    public Item addItem(String name, int qty) {
        if (items.size() >= MAX_ITEMS) {
            throw new IllegalStateException("inventory full");
        }
        Item item = new Item(name, qty);
        items.put(name, item);
        save(name, qty);
        return item;
    }

    @Override
    public void save(String key, int value) {
        System.out.println(Helpers.format(key, value));
    }

    static class Helpers {
        static String format(String k, int v) {
            return k + "=" + v;
        }
    }
}
