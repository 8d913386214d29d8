import React, { useState } from "react";
import { InventoryService } from "./inventory";

export const MAX_ITEMS = 50;

interface InventoryProps {
  service: InventoryService;
  title?: string;
}

type ItemList = string[];

export class InventoryPanel extends React.Component<InventoryProps> {
  addItem(name: string): void {
    this.props.service.addItem(name, 1);
  }

  render() {
    return <ItemTable items={[]} />;
  }
}

function ItemTable(props: { items: ItemList }) {
  return <ul>{props.items.map((i) => <li key={i}>{i}</li>)}</ul>;
}

export function App(props: InventoryProps) {
  const [count, setCount] = useState(0);
  return (
    <div onClick={() => setCount(count + 1)}>
      <InventoryPanel service={props.service} />
    </div>
  );
}

export const Header = ({ title }: { title: string }) => <h1>{title}</h1>;
