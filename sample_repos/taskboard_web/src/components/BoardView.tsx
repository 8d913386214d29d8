import { useMemo } from "react";
import { groupByStatus } from "../store/taskStore";
import type { Board, Task, TaskStatus, User } from "../types";
import { TaskList } from "./TaskList";

export interface BoardViewProps {
  board: Board;
  tasks: Task[];
  users: User[];
  now: Date;
  onMove: (task: Task, status: TaskStatus) => void;
  onDelete: (task: Task) => void;
}

/** The whole board: one TaskList per configured column. */
export function BoardView({ board, tasks, users, now, onMove, onDelete }: BoardViewProps) {
  const usersById = useMemo(() => Object.fromEntries(users.map((u) => [u.id, u])), [users]);
  const columns = useMemo(() => groupByStatus(tasks, board.columns), [tasks, board.columns]);

  return (
    <main className="board" style={{ gridTemplateColumns: `repeat(${board.columns.length}, 1fr)` }}>
      {board.columns.map((status) => (
        <TaskList
          key={status}
          status={status}
          tasks={columns[status]}
          usersById={usersById}
          columns={board.columns}
          now={now}
          onMove={onMove}
          onDelete={onDelete}
        />
      ))}
    </main>
  );
}
