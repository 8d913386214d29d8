package main

import (
	"fmt"
	"strings"
)

const MAX_ITEMS = 100

var defaultName = "main"

type Storage interface {
	Save(key string, value int) error
}

type Item struct {
	Name string
	Qty  int
}

type ItemID = string

type InventoryService struct {
	storage Storage
	items   map[string]Item
}

func NewInventoryService(s Storage) *InventoryService {
	return &InventoryService{storage: s, items: map[string]Item{}}
}

func (s *InventoryService) AddItem(name string, qty int) error {
	if len(s.items) >= MAX_ITEMS {
		return fmt.Errorf("inventory full")
	}
	s.items[name] = Item{Name: name, Qty: qty}
	return s.storage.Save(strings.ToLower(name), qty)
}

func main() {
	svc := NewInventoryService(nil)
	fmt.Println(svc.AddItem("apple", 1))
}
