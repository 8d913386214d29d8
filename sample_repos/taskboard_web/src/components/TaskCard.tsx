import { STATUS_LABELS, type Task, type TaskStatus, type User } from "../types";
import { formatDueDate, isDueSoon, isOverdue } from "../utils/dates";

export interface TaskCardProps {
  task: Task;
  assignee?: User;
  now: Date;
  nextStatuses: TaskStatus[];
  onMove: (task: Task, status: TaskStatus) => void;
  onDelete: (task: Task) => void;
}

function dueClassName(task: Task, now: Date): string {
  if (isOverdue(task, now)) return "task-card__due task-card__due--overdue";
  if (isDueSoon(task, now)) return "task-card__due task-card__due--soon";
  return "task-card__due";
}

function initials(name: string): string {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join("");
}

/** A single task on the board: title, priority badge, due label, assignee. */
export function TaskCard({ task, assignee, now, nextStatuses, onMove, onDelete }: TaskCardProps) {
  return (
    <article className={`task-card task-card--${task.priority}`} data-task-id={task.id}>
      <header className="task-card__header">
        <span className={`priority-badge priority-badge--${task.priority}`}>{task.priority}</span>
        <h3 className="task-card__title">{task.title}</h3>
      </header>
      {task.description && <p className="task-card__description">{task.description}</p>}
      {task.tags.length > 0 && (
        <ul className="task-card__tags">
          {task.tags.map((tag) => (
            <li key={tag} className="tag">
              #{tag}
            </li>
          ))}
        </ul>
      )}
      <footer className="task-card__footer">
        <time className={dueClassName(task, now)} dateTime={task.dueDate}>
          {formatDueDate(task.dueDate, now)}
        </time>
        {assignee ? (
          <span className="avatar" title={assignee.name}>
            {assignee.avatarUrl ? <img src={assignee.avatarUrl} alt={assignee.name} /> : initials(assignee.name)}
          </span>
        ) : (
          <span className="avatar avatar--empty" title="Unassigned" />
        )}
        <div className="task-card__actions">
          {nextStatuses.map((status) => (
            <button key={status} type="button" onClick={() => onMove(task, status)}>
              → {STATUS_LABELS[status]}
            </button>
          ))}
          <button type="button" className="danger" onClick={() => onDelete(task)} aria-label={`Delete ${task.title}`}>
            ✕
          </button>
        </div>
      </footer>
    </article>
  );
}
