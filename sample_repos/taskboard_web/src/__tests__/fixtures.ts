import { Priority, type Task } from "../types";

let counter = 0;

/** Build a Task with sensible defaults; override any field. */
export function makeTask(overrides: Partial<Task> = {}): Task {
  counter += 1;
  return {
    id: `t${counter}`,
    boardId: "b1",
    title: `Task ${counter}`,
    status: "todo",
    priority: Priority.Medium,
    tags: [],
    createdAt: "2024-03-01T09:00:00Z",
    updatedAt: "2024-03-01T09:00:00Z",
    ...overrides,
  };
}

/** Fixed "now" used by date-sensitive tests: Friday 15 March 2024, noon local. */
export const NOW = new Date(2024, 2, 15, 12, 0, 0);
