#include <map>
#include <string>
#include "inventory.hpp"

constexpr int MAX_ITEMS = 100;

namespace shop {

class Storage {
public:
    virtual ~Storage() = default;
    virtual void save(const std::string& key, int value) = 0;
};

struct Item {
    std::string name;
    int qty;
};

enum class Status { Active, Archived };

using ItemMap = std::map<std::string, Item>;

class InventoryService : public Storage {
public:
    bool addItem(const std::string& name, int qty);
    void save(const std::string& key, int value) override { log(key); }

private:
    ItemMap items_;
};

bool InventoryService::addItem(const std::string& name, int qty) {
    if (items_.size() >= MAX_ITEMS) {
        return false;
    }
    items_[name] = Item{name, qty};
    save(name, qty);
    return true;
}

}  // namespace shop

int computeTotal(shop::InventoryService& svc) {
    return svc.addItem("apple", 1) ? 1 : 0;
}
