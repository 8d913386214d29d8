/**
 * Due-date helpers.
 *
 * Due dates are calendar dates ("YYYY-MM-DD") interpreted in the user's
 * local time zone. Every function takes `now` explicitly so that components
 * and tests can pin the clock.
 */

import type { Task } from "../types";

const MS_PER_DAY = 24 * 60 * 60 * 1000;
const DUE_DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Parse "YYYY-MM-DD" into a local-midnight Date, or null if malformed. */
export function parseDueDate(value: string | undefined): Date | null {
  if (!value) return null;
  const match = DUE_DATE_PATTERN.exec(value);
  if (!match) return null;
  const [, y, m, d] = match;
  const date = new Date(Number(y), Number(m) - 1, Number(d));
  return Number.isNaN(date.getTime()) ? null : date;
}

export function startOfDay(date: Date): Date {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate());
}

/** Whole calendar days from `now` until `due` (negative when past due). */
export function daysUntil(due: Date, now: Date): number {
  return Math.round((startOfDay(due).getTime() - startOfDay(now).getTime()) / MS_PER_DAY);
}

/** A task is overdue if it has a due date before today and is not done. */
export function isOverdue(task: Pick<Task, "dueDate" | "status">, now: Date): boolean {
  if (task.status === "done") return false;
  const due = parseDueDate(task.dueDate);
  return due !== null && daysUntil(due, now) < 0;
}

/** Due within the next `withinDays` days (inclusive), not overdue, not done. */
export function isDueSoon(task: Pick<Task, "dueDate" | "status">, now: Date, withinDays = 2): boolean {
  if (task.status === "done") return false;
  const due = parseDueDate(task.dueDate);
  if (due === null) return false;
  const days = daysUntil(due, now);
  return days >= 0 && days <= withinDays;
}

const shortDate = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric" });
const longDate = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", year: "numeric" });

/**
 * Human label for a due date relative to `now`:
 * "Today", "Tomorrow", "Yesterday", "in 3 days", "2 days overdue",
 * or an absolute date ("Mar 4", "Jan 9, 2026") when more than a week away.
 */
export function formatDueDate(value: string | undefined, now: Date): string {
  const due = parseDueDate(value);
  if (due === null) return "No due date";
  const days = daysUntil(due, now);
  if (days === 0) return "Today";
  if (days === 1) return "Tomorrow";
  if (days === -1) return "Yesterday";
  if (days > 1 && days <= 7) return `in ${days} days`;
  if (days < -1 && days >= -7) return `${-days} days overdue`;
  return due.getFullYear() === now.getFullYear() ? shortDate.format(due) : longDate.format(due);
}

/** Format a Date back to the wire format "YYYY-MM-DD". */
export function toDueDateString(date: Date): string {
  const mm = String(date.getMonth() + 1).padStart(2, "0");
  const dd = String(date.getDate()).padStart(2, "0");
  return `${date.getFullYear()}-${mm}-${dd}`;
}
