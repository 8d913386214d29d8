import { STATUS_LABELS, type Task, type TaskStatus, type User } from "../types";
import { TaskCard } from "./TaskCard";

export interface TaskListProps {
  status: TaskStatus;
  tasks: Task[];
  usersById: Record<string, User>;
  columns: TaskStatus[];
  now: Date;
  onMove: (task: Task, status: TaskStatus) => void;
  onDelete: (task: Task) => void;
}

/** Neighbouring columns a task in `status` can be moved to. */
export function adjacentStatuses(status: TaskStatus, columns: readonly TaskStatus[]): TaskStatus[] {
  const index = columns.indexOf(status);
  if (index === -1) return [];
  return [columns[index - 1], columns[index + 1]].filter((s): s is TaskStatus => s !== undefined);
}

/** One board column: a heading with a count and the column's task cards. */
export function TaskList({ status, tasks, usersById, columns, now, onMove, onDelete }: TaskListProps) {
  const nextStatuses = adjacentStatuses(status, columns);
  return (
    <section className={`task-list task-list--${status}`} aria-label={STATUS_LABELS[status]}>
      <h2 className="task-list__heading">
        {STATUS_LABELS[status]} <span className="task-list__count">{tasks.length}</span>
      </h2>
      {tasks.length === 0 ? (
        <p className="task-list__empty">Nothing here.</p>
      ) : (
        tasks.map((task) => (
          <TaskCard
            key={task.id}
            task={task}
            assignee={task.assigneeId ? usersById[task.assigneeId] : undefined}
            now={now}
            nextStatuses={nextStatuses}
            onMove={onMove}
            onDelete={onDelete}
          />
        ))
      )}
    </section>
  );
}
