package com.example.shop

import java.util.concurrent.ConcurrentHashMap
import kotlin.math.max

const val MAX_ITEMS = 100
val defaultName = "main"

interface Storage {
    fun save(key: String, value: Int)
}

data class Item(val name: String, val qty: Int)

enum class Status { ACTIVE, ARCHIVED }

typealias ItemMap = ConcurrentHashMap<String, Item>

object Registry {
    fun register(service: InventoryService) {}
}

class InventoryService(private val storage: Storage) : Storage {
    private val items: ItemMap = ConcurrentHashMap()

    fun addItem(name: String, qty: Int = 1): Item {
        check(items.size < MAX_ITEMS) { "inventory full" }
        val item = Item(name, max(qty, 1))
        items[name] = item
        storage.save(name, qty)
        return item
    }

    override fun save(key: String, value: Int) {
        println("$key=$value")
    }
}

fun computeTotal(service: InventoryService): Int {
    Registry.register(service)
    return normalize(service.hashCode())
}

fun normalize(v: Int): Int = v
