import { lookupPrice } from "./pricing.js";
import fs from "fs";
const path = require("path");

export const MAX_ITEMS = 100;

class BaseService {
  describe() {
    return "base";
  }
}

export class InventoryService extends BaseService {
  constructor(storage) {
    super();
    this.storage = storage;
    this.items = new Map();
  }

  addItem(name, qty = 1) {
    if (this.items.size >= MAX_ITEMS) {
      throw new Error("inventory full");
    }
    this.items.set(name, qty);
    this.storage.save(name, qty);
    return qty;
  }

  get count() {
    return this.items.size;
  }
}

export function computeTotal(service) {
  const price = lookupPrice(service.count);
  return formatPrice(price);
}

const formatPrice = (value) => value.toFixed(2);

function loadConfig(file) {
  return JSON.parse(fs.readFileSync(path.join(".", file), "utf8"));
}
