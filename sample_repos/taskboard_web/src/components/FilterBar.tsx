import type { ChangeEvent } from "react";
import { Priority, type SortKey, type TaskFilter, type User } from "../types";

export interface FilterBarProps {
  filter: TaskFilter;
  sortKey: SortKey;
  users: User[];
  overdueCount: number;
  onFilterChange: (patch: Partial<TaskFilter>) => void;
  onSortChange: (key: SortKey) => void;
  onReset: () => void;
}

const SORT_OPTIONS: { key: SortKey; label: string }[] = [
  { key: "dueDate", label: "Due date" },
  { key: "priority", label: "Priority" },
  { key: "createdAt", label: "Newest" },
  { key: "title", label: "Title" },
];

/** Search box, priority / assignee selects, overdue toggle and sort order. */
export function FilterBar({ filter, sortKey, users, overdueCount, onFilterChange, onSortChange, onReset }: FilterBarProps) {
  const onPriority = (e: ChangeEvent<HTMLSelectElement>) =>
    onFilterChange({ priority: e.target.value === "all" ? "all" : (e.target.value as Priority) });

  return (
    <form className="filter-bar" role="search" onSubmit={(e) => e.preventDefault()}>
      <input
        type="search"
        placeholder="Search tasks…"
        value={filter.search}
        onChange={(e) => onFilterChange({ search: e.target.value })}
      />
      <select aria-label="Priority" value={filter.priority} onChange={onPriority}>
        <option value="all">All priorities</option>
        {Object.values(Priority).map((p) => (
          <option key={p} value={p}>
            {p}
          </option>
        ))}
      </select>
      <select
        aria-label="Assignee"
        value={filter.assigneeId}
        onChange={(e) => onFilterChange({ assigneeId: e.target.value })}
      >
        <option value="all">Everyone</option>
        {users.map((u) => (
          <option key={u.id} value={u.id}>
            {u.name}
          </option>
        ))}
      </select>
      <label className="filter-bar__overdue">
        <input
          type="checkbox"
          checked={filter.showOverdueOnly}
          onChange={(e) => onFilterChange({ showOverdueOnly: e.target.checked })}
        />
        Overdue only {overdueCount > 0 && <span className="badge">{overdueCount}</span>}
      </label>
      <select aria-label="Sort by" value={sortKey} onChange={(e) => onSortChange(e.target.value as SortKey)}>
        {SORT_OPTIONS.map((o) => (
          <option key={o.key} value={o.key}>
            Sort: {o.label}
          </option>
        ))}
      </select>
      <button type="button" onClick={onReset}>
        Clear
      </button>
    </form>
  );
}
