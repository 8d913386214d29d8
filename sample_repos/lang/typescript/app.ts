import { lookupPrice } from "./pricing";
import type { Config } from "./config";

export const MAX_ITEMS = 100;

export interface Storage {
  save(key: string, value: number): void;
}

export type ItemMap = Map<string, InventoryItem>;

export enum ItemStatus {
  Active,
  Archived,
}

export class InventoryItem {
  constructor(public name: string, public qty: number) {}
}

export class InventoryService implements Storage {
  private items: ItemMap = new Map();

  constructor(private config: Config) {}

  addItem(name: string, qty: number = 1): InventoryItem {
    const item = new InventoryItem(name, qty);
    this.items.set(name, item);
    this.save(name, qty);
    return item;
  }

  save(key: string, value: number): void {
    console.log(key, value);
  }
}

export namespace Reports {
  export function summary(service: InventoryService): string {
    return "ok";
  }
}

export function computeTotal(service: InventoryService): number {
  const price = lookupPrice(MAX_ITEMS);
  return formatPrice(price);
}

const formatPrice = (value: number): number => Math.round(value);
