import { describe, expect, it } from "vitest";
import {
  filterChanged,
  groupByStatus,
  initialTaskState,
  selectOverdueCount,
  selectVisibleTasks,
  sortChanged,
  taskAdded,
  taskRemoved,
  taskReducer,
  tasksLoaded,
  taskUpdated,
  type TaskState,
} from "../store/taskStore";
import { Priority } from "../types";
import { makeTask, NOW } from "./fixtures";

function loaded(...tasks: ReturnType<typeof makeTask>[]): TaskState {
  return taskReducer(initialTaskState, tasksLoaded(tasks));
}

describe("taskReducer", () => {
  it("normalizes loaded tasks and clears loading", () => {
    const a = makeTask();
    const b = makeTask();
    const state = loaded(a, b);
    expect(state.allIds).toEqual([a.id, b.id]);
    expect(state.byId[b.id]).toBe(b);
    expect(state.loading).toBe(false);
  });

  it("ignores duplicate adds and unknown updates", () => {
    const a = makeTask();
    const state = loaded(a);
    expect(taskReducer(state, taskAdded(a))).toBe(state);
    expect(taskReducer(state, taskUpdated(makeTask()))).toBe(state);
  });

  it("updates and removes a task", () => {
    const a = makeTask({ title: "old" });
    let state = loaded(a);
    state = taskReducer(state, taskUpdated({ ...a, title: "new" }));
    expect(state.byId[a.id].title).toBe("new");
    state = taskReducer(state, taskRemoved(a.id));
    expect(state.allIds).toEqual([]);
    expect(state.byId[a.id]).toBeUndefined();
  });

  it("merges filter patches", () => {
    const state = taskReducer(initialTaskState, filterChanged({ search: "login" }));
    expect(state.filter).toEqual({ ...initialTaskState.filter, search: "login" });
  });
});

describe("selectVisibleTasks", () => {
  const overdue = makeTask({ title: "Fix login", dueDate: "2024-03-10", priority: Priority.High });
  const later = makeTask({ title: "Write docs", dueDate: "2024-04-01", tags: ["login"] });
  const done = makeTask({ title: "Old login bug", dueDate: "2024-03-01", status: "done" });
  const base = loaded(overdue, later, done);

  it("filters by search text in title and tags", () => {
    const state = taskReducer(base, filterChanged({ search: "LOGIN" }));
    expect(selectVisibleTasks(state, NOW).map((t) => t.id)).toEqual([done.id, overdue.id, later.id]);
  });

  it("shows only overdue, unfinished tasks when asked", () => {
    const state = taskReducer(base, filterChanged({ showOverdueOnly: true }));
    expect(selectVisibleTasks(state, NOW)).toEqual([overdue]);
    expect(selectOverdueCount(base, NOW)).toBe(1);
  });

  it("respects the sort key", () => {
    const state = taskReducer(base, sortChanged("priority"));
    expect(selectVisibleTasks(state, NOW)[0]).toBe(overdue);
  });

  it("groups into columns", () => {
    const groups = groupByStatus(selectVisibleTasks(base, NOW), ["todo", "in_progress", "done"]);
    expect(groups.todo).toHaveLength(2);
    expect(groups.done).toEqual([done]);
    expect(groups.review).toEqual([]);
  });
});
