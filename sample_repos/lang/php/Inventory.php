<?php

namespace Shop\Inventory;

use Shop\Pricing\PriceLookup;
use Psr\Log\LoggerInterface as Logger;

const MAX_ITEMS = 100;

interface Storage
{
    public function save(string $key, int $value): void;
}

trait Loggable
{
    public function log(string $msg): void {}
}

enum Status
{
    case Active;
    case Archived;
}

class InventoryService implements Storage
{
    use Loggable;

    public const LIMIT = 10;
    private array $items = [];

    public function addItem(string $name, int $qty = 1): Item
    {
        if (count($this->items) >= MAX_ITEMS) {
            throw new \RuntimeException("inventory full");
        }
        $item = new Item($name, $qty);
        $this->items[$name] = $item;
        $this->save($name, $qty);
        return $item;
    }

    public function save(string $key, int $value): void
    {
        PriceLookup::record($key, $value);
    }
}

function compute_total(InventoryService $service): float
{
    return format_price(PriceLookup::total());
}
