import { describe, expect, it } from "vitest";
import { Priority } from "../types";
import { compareByDueDate, compareByPriority, sortTasks, thenBy } from "../utils/sort";
import { makeTask } from "./fixtures";

describe("comparators", () => {
  it("puts higher priority first", () => {
    const urgent = makeTask({ priority: Priority.Urgent });
    const low = makeTask({ priority: Priority.Low });
    expect(compareByPriority(urgent, low)).toBeLessThan(0);
  });

  it("puts tasks without a due date last", () => {
    const none = makeTask();
    const due = makeTask({ dueDate: "2024-05-01" });
    expect(compareByDueDate(due, none)).toBeLessThan(0);
    expect(compareByDueDate(none, makeTask())).toBe(0);
  });

  it("thenBy falls through on ties", () => {
    const a = makeTask({ priority: Priority.High, title: "b" });
    const b = makeTask({ priority: Priority.High, title: "a" });
    const cmp = thenBy(compareByPriority, (x, y) => x.title.localeCompare(y.title));
    expect(cmp(a, b)).toBeGreaterThan(0);
  });
});

describe("sortTasks", () => {
  const t1 = makeTask({ title: "Task 10", dueDate: "2024-03-20", priority: Priority.Low, createdAt: "2024-03-02T00:00:00Z" });
  const t2 = makeTask({ title: "Task 9", dueDate: "2024-03-18", priority: Priority.Urgent, createdAt: "2024-03-01T00:00:00Z" });
  const t3 = makeTask({ title: "task 1", priority: Priority.Urgent, createdAt: "2024-03-03T00:00:00Z" });

  it("sorts by due date with undated tasks last", () => {
    expect(sortTasks([t3, t1, t2], "dueDate")).toEqual([t2, t1, t3]);
  });

  it("sorts by priority and breaks ties by title", () => {
    expect(sortTasks([t1, t2, t3], "priority")).toEqual([t3, t2, t1]);
  });

  it("sorts by newest first and by natural title order", () => {
    expect(sortTasks([t1, t2, t3], "createdAt")).toEqual([t3, t1, t2]);
    expect(sortTasks([t1, t2, t3], "title")).toEqual([t3, t2, t1]);
  });

  it("does not mutate its input", () => {
    const input = [t1, t2, t3];
    sortTasks(input, "title");
    expect(input).toEqual([t1, t2, t3]);
  });
});
