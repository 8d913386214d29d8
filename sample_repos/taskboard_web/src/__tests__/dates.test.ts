import { describe, expect, it } from "vitest";
import { daysUntil, formatDueDate, isDueSoon, isOverdue, parseDueDate, toDueDateString } from "../utils/dates";
import { NOW } from "./fixtures";

describe("parseDueDate", () => {
  it("parses calendar dates as local midnight", () => {
    const d = parseDueDate("2024-03-18");
    expect(d?.getDate()).toBe(18);
    expect(d?.getHours()).toBe(0);
  });

  it("rejects malformed input", () => {
    expect(parseDueDate("18/03/2024")).toBeNull();
    expect(parseDueDate(undefined)).toBeNull();
  });
});

describe("formatDueDate", () => {
  it.each([
    ["2024-03-15", "Today"],
    ["2024-03-16", "Tomorrow"],
    ["2024-03-14", "Yesterday"],
    ["2024-03-19", "in 4 days"],
    ["2024-03-12", "3 days overdue"],
    ["2024-04-30", "Apr 30"],
    ["2025-01-09", "Jan 9, 2025"],
  ])("%s -> %s", (due, label) => {
    expect(formatDueDate(due, NOW)).toBe(label);
  });

  it("handles missing due dates", () => {
    expect(formatDueDate(undefined, NOW)).toBe("No due date");
  });
});

describe("overdue detection", () => {
  it("is overdue only before today and when not done", () => {
    expect(isOverdue({ dueDate: "2024-03-14", status: "todo" }, NOW)).toBe(true);
    expect(isOverdue({ dueDate: "2024-03-15", status: "todo" }, NOW)).toBe(false);
    expect(isOverdue({ dueDate: "2024-03-01", status: "done" }, NOW)).toBe(false);
  });

  it("is due soon within two days", () => {
    expect(isDueSoon({ dueDate: "2024-03-17", status: "review" }, NOW)).toBe(true);
    expect(isDueSoon({ dueDate: "2024-03-18", status: "review" }, NOW)).toBe(false);
  });

  it("round-trips and counts days", () => {
    expect(toDueDateString(parseDueDate("2024-02-29")!)).toBe("2024-02-29");
    expect(daysUntil(parseDueDate("2024-03-25")!, NOW)).toBe(10);
  });
});
