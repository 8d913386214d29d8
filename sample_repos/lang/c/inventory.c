#include <stdio.h>
#include <string.h>
#include "inventory.h"

#define MAX_ITEMS 100
#define SQUARE(x) ((x) * (x))

typedef unsigned int qty_t;

enum status { STATUS_ACTIVE, STATUS_ARCHIVED };

struct Item {
    char name[32];
    qty_t qty;
};

typedef struct InventoryService {
    struct Item items[MAX_ITEMS];
    int count;
} InventoryService;

static int find_item(InventoryService *svc, const char *name);

int add_item(InventoryService *svc, const char *name, qty_t qty) {
    if (svc->count >= MAX_ITEMS) {
        return -1;
    }
    struct Item *item = &svc->items[svc->count++];
    strncpy(item->name, name, sizeof(item->name) - 1);
    item->qty = qty;
    return find_item(svc, name);
}

static int find_item(InventoryService *svc, const char *name) {
    for (int i = 0; i < svc->count; i++) {
        if (strcmp(svc->items[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

int main(void) {
    InventoryService svc = {0};
    printf("%d\n", add_item(&svc, "apple", 1));
    return 0;
}
