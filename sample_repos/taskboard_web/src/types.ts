/**
 * Shared domain types for the task board.
 *
 * Dates travel over the wire as ISO-8601 strings; `dueDate` is a calendar
 * date ("2024-03-18") while `createdAt` / `updatedAt` are full timestamps.
 */

export enum Priority {
  Low = "low",
  Medium = "medium",
  High = "high",
  Urgent = "urgent",
}

/** Numeric rank used for sorting: higher means more important. */
export const PRIORITY_RANK: Record<Priority, number> = {
  [Priority.Low]: 0,
  [Priority.Medium]: 1,
  [Priority.High]: 2,
  [Priority.Urgent]: 3,
};

export type TaskStatus = "todo" | "in_progress" | "review" | "done";

export const STATUS_LABELS: Record<TaskStatus, string> = {
  todo: "To do",
  in_progress: "In progress",
  review: "In review",
  done: "Done",
};

export interface User {
  id: string;
  name: string;
  email: string;
  avatarUrl?: string;
}

export interface Task {
  id: string;
  boardId: string;
  title: string;
  description?: string;
  status: TaskStatus;
  priority: Priority;
  assigneeId?: string;
  /** Calendar date, YYYY-MM-DD. */
  dueDate?: string;
  tags: string[];
  createdAt: string;
  updatedAt: string;
}

export interface Board {
  id: string;
  name: string;
  columns: TaskStatus[];
  memberIds: string[];
}

export type SortKey = "dueDate" | "priority" | "createdAt" | "title";

export interface TaskFilter {
  search: string;
  priority: Priority | "all";
  assigneeId: string | "all";
  showOverdueOnly: boolean;
}

export const DEFAULT_FILTER: TaskFilter = {
  search: "",
  priority: "all",
  assigneeId: "all",
  showOverdueOnly: false,
};

/** Payload for creating a task; the server fills in id and timestamps. */
export type NewTaskInput = Pick<Task, "boardId" | "title" | "priority"> &
  Partial<Pick<Task, "description" | "status" | "assigneeId" | "dueDate" | "tags">>;

/** Fields a client may change on an existing task. */
export type TaskPatch = Partial<Omit<Task, "id" | "boardId" | "createdAt" | "updatedAt">>;
