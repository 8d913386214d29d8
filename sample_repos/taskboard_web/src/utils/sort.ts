/** Task ordering used by the board columns and the list view. */

import { PRIORITY_RANK, type SortKey, type Task } from "../types";
import { parseDueDate } from "./dates";

export type TaskComparator = (a: Task, b: Task) => number;

/** Highest priority first. */
export const compareByPriority: TaskComparator = (a, b) => PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority];

/** Earliest due date first; tasks without a due date go last. */
export const compareByDueDate: TaskComparator = (a, b) => {
  const da = parseDueDate(a.dueDate);
  const db = parseDueDate(b.dueDate);
  if (da === null && db === null) return 0;
  if (da === null) return 1;
  if (db === null) return -1;
  return da.getTime() - db.getTime();
};

/** Newest first. */
export const compareByCreatedAt: TaskComparator = (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt);

export const compareByTitle: TaskComparator = (a, b) =>
  a.title.localeCompare(b.title, undefined, { sensitivity: "base", numeric: true });

export const comparators: Record<SortKey, TaskComparator> = {
  dueDate: compareByDueDate,
  priority: compareByPriority,
  createdAt: compareByCreatedAt,
  title: compareByTitle,
};

/** Chain comparators: the first non-zero result wins. */
export function thenBy(...chain: TaskComparator[]): TaskComparator {
  return (a, b) => {
    for (const cmp of chain) {
      const result = cmp(a, b);
      if (result !== 0) return result;
    }
    return 0;
  };
}

/**
 * Return a new array sorted by `key`, breaking ties by priority, then
 * title, then id so the order is fully deterministic.
 */
export function sortTasks(tasks: readonly Task[], key: SortKey): Task[] {
  const byId: TaskComparator = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const cmp = thenBy(comparators[key], compareByPriority, compareByTitle, byId);
  return [...tasks].sort(cmp);
}
