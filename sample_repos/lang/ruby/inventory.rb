require "json"
require_relative "pricing"

MAX_ITEMS = 100

module Shop
  module Storage
    def save(key, value)
      raise NotImplementedError
    end
  end

  class InventoryItem
    attr_reader :name, :qty

    def initialize(name, qty)
      @name = name
      @qty = qty
    end
  end

  class InventoryService
    include Storage

    def initialize
      @items = {}
    end

    def add_item(name, qty = 1)
      raise ArgumentError, "inventory full" if @items.size >= MAX_ITEMS
      item = InventoryItem.new(name, qty)
      @items[name] = item
      save(name, qty)
      item
    end

    def self.build
      new
    end
  end
end

def compute_total(service)
  price = Pricing.lookup(service)
  format_price(price)
end
