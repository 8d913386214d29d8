using System;
using System.Collections.Generic;

namespace Shop.Inventory
{
    public interface IStorage
    {
        void Save(string key, int value);
    }

    public enum Status { Active, Archived }

    public record Item(string Name, int Qty);

    public struct Point { public int X; public int Y; }

    public class InventoryService : IStorage
    {
        public const int MAX_ITEMS = 100;
        private readonly Dictionary<string, Item> items = new Dictionary<string, Item>();

        public InventoryService() { }

        public Item AddItem(string name, int qty)
        {
            if (items.Count >= MAX_ITEMS)
            {
                throw new InvalidOperationException("inventory full");
            }
            var item = new Item(name, qty);
            items[name] = item;
            Save(name, qty);
            return item;
        }

        public void Save(string key, int value)
        {
            Console.WriteLine(Helpers.Format(key, value));
        }

        public int Count => items.Count;
    }

    public static class Helpers
    {
        public static string Format(string k, int v) => $"{k}={v}";
    }
}
