import { useEffect, useState } from "react";
import { fetchBoard, fetchUsers } from "./api/tasks";
import { BoardView } from "./components/BoardView";
import { FilterBar } from "./components/FilterBar";
import { useTasks } from "./hooks/useTasks";
import type { Board, User } from "./types";

export interface AppProps {
  boardId: string;
}

/** Loads the board metadata and members, then renders filters + columns. */
export function App({ boardId }: AppProps) {
  const [board, setBoard] = useState<Board | null>(null);
  const [users, setUsers] = useState<User[]>([]);
  const [boardError, setBoardError] = useState<string | null>(null);
  const now = new Date();
  const taskBoard = useTasks(boardId, now);

  useEffect(() => {
    Promise.all([fetchBoard(boardId), fetchUsers()])
      .then(([b, u]) => {
        setBoard(b);
        setUsers(u.filter((user) => b.memberIds.includes(user.id)));
      })
      .catch((err: Error) => setBoardError(err.message));
  }, [boardId]);

  if (boardError) return <p role="alert">Could not load board: {boardError}</p>;
  if (!board) return <p aria-busy="true">Loading board…</p>;

  return (
    <div className="app">
      <header className="app__header">
        <h1>{board.name}</h1>
        <button type="button" onClick={taskBoard.reload} disabled={taskBoard.loading}>
          Refresh
        </button>
      </header>
      <FilterBar
        filter={taskBoard.filter}
        sortKey={taskBoard.sortKey}
        users={users}
        overdueCount={taskBoard.overdueCount}
        onFilterChange={taskBoard.setFilter}
        onSortChange={taskBoard.setSortKey}
        onReset={taskBoard.resetFilter}
      />
      {taskBoard.error && <p role="alert" className="error">{taskBoard.error}</p>}
      <BoardView
        board={board}
        tasks={taskBoard.tasks}
        users={users}
        now={now}
        onMove={taskBoard.moveTask}
        onDelete={taskBoard.removeTask}
      />
    </div>
  );
}
