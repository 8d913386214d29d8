/**
 * Task state: a normalized map plus the current filter and sort key.
 *
 * The reducer is pure; async work lives in hooks/useTasks.ts which
 * dispatches these actions around API calls.
 */

import { DEFAULT_FILTER, type SortKey, type Task, type TaskFilter, type TaskStatus } from "../types";
import { isOverdue } from "../utils/dates";
import { sortTasks } from "../utils/sort";

export interface TaskState {
  byId: Record<string, Task>;
  allIds: string[];
  filter: TaskFilter;
  sortKey: SortKey;
  loading: boolean;
  error: string | null;
}

export const initialTaskState: TaskState = {
  byId: {},
  allIds: [],
  filter: DEFAULT_FILTER,
  sortKey: "dueDate",
  loading: false,
  error: null,
};

export type TaskAction =
  | { type: "tasks/loadStarted" }
  | { type: "tasks/loaded"; tasks: Task[] }
  | { type: "tasks/loadFailed"; error: string }
  | { type: "task/added"; task: Task }
  | { type: "task/updated"; task: Task }
  | { type: "task/removed"; taskId: string }
  | { type: "filter/changed"; patch: Partial<TaskFilter> }
  | { type: "filter/reset" }
  | { type: "sort/changed"; sortKey: SortKey };

export const loadStarted = (): TaskAction => ({ type: "tasks/loadStarted" });
export const tasksLoaded = (tasks: Task[]): TaskAction => ({ type: "tasks/loaded", tasks });
export const loadFailed = (error: string): TaskAction => ({ type: "tasks/loadFailed", error });
export const taskAdded = (task: Task): TaskAction => ({ type: "task/added", task });
export const taskUpdated = (task: Task): TaskAction => ({ type: "task/updated", task });
export const taskRemoved = (taskId: string): TaskAction => ({ type: "task/removed", taskId });
export const filterChanged = (patch: Partial<TaskFilter>): TaskAction => ({ type: "filter/changed", patch });
export const filterReset = (): TaskAction => ({ type: "filter/reset" });
export const sortChanged = (sortKey: SortKey): TaskAction => ({ type: "sort/changed", sortKey });

export function taskReducer(state: TaskState, action: TaskAction): TaskState {
  switch (action.type) {
    case "tasks/loadStarted":
      return { ...state, loading: true, error: null };
    case "tasks/loaded": {
      const byId: Record<string, Task> = {};
      for (const task of action.tasks) byId[task.id] = task;
      return { ...state, byId, allIds: action.tasks.map((t) => t.id), loading: false };
    }
    case "tasks/loadFailed":
      return { ...state, loading: false, error: action.error };
    case "task/added":
      if (state.byId[action.task.id]) return state;
      return {
        ...state,
        byId: { ...state.byId, [action.task.id]: action.task },
        allIds: [...state.allIds, action.task.id],
      };
    case "task/updated":
      if (!state.byId[action.task.id]) return state;
      return { ...state, byId: { ...state.byId, [action.task.id]: action.task } };
    case "task/removed": {
      if (!state.byId[action.taskId]) return state;
      const { [action.taskId]: _removed, ...rest } = state.byId;
      void _removed;
      return { ...state, byId: rest, allIds: state.allIds.filter((id) => id !== action.taskId) };
    }
    case "filter/changed":
      return { ...state, filter: { ...state.filter, ...action.patch } };
    case "filter/reset":
      return { ...state, filter: DEFAULT_FILTER };
    case "sort/changed":
      return { ...state, sortKey: action.sortKey };
    default:
      return state;
  }
}

export function matchesFilter(task: Task, filter: TaskFilter, now: Date): boolean {
  if (filter.priority !== "all" && task.priority !== filter.priority) return false;
  if (filter.assigneeId !== "all" && task.assigneeId !== filter.assigneeId) return false;
  if (filter.showOverdueOnly && !isOverdue(task, now)) return false;
  const needle = filter.search.trim().toLowerCase();
  if (needle) {
    const haystack = [task.title, task.description ?? "", ...task.tags].join(" ").toLowerCase();
    if (!haystack.includes(needle)) return false;
  }
  return true;
}

/** Tasks that pass the current filter, sorted by the current sort key. */
export function selectVisibleTasks(state: TaskState, now: Date): Task[] {
  const tasks = state.allIds.map((id) => state.byId[id]).filter((t) => matchesFilter(t, state.filter, now));
  return sortTasks(tasks, state.sortKey);
}

/** Group already-filtered tasks into board columns, preserving order. */
export function groupByStatus(tasks: readonly Task[], columns: readonly TaskStatus[]): Record<TaskStatus, Task[]> {
  const groups = { todo: [], in_progress: [], review: [], done: [] } as Record<TaskStatus, Task[]>;
  for (const task of tasks) {
    if (columns.includes(task.status)) groups[task.status].push(task);
  }
  return groups;
}

export function selectOverdueCount(state: TaskState, now: Date): number {
  return state.allIds.filter((id) => isOverdue(state.byId[id], now)).length;
}
