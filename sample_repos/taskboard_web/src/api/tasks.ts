/** Task-board REST endpoints. */

import { http } from "./client";
import type { Board, NewTaskInput, Task, TaskPatch, TaskStatus, User } from "../types";

interface TaskListResponse {
  tasks: Task[];
}

interface UserListResponse {
  users: User[];
}

export function fetchBoard(boardId: string): Promise<Board> {
  return http.get<Board>(`/boards/${encodeURIComponent(boardId)}`);
}

export async function fetchTasks(boardId: string, opts: { includeDone?: boolean } = {}): Promise<Task[]> {
  const res = await http.get<TaskListResponse>(`/boards/${encodeURIComponent(boardId)}/tasks`, {
    includeDone: opts.includeDone ?? true,
  });
  return res.tasks;
}

export function createTask(input: NewTaskInput): Promise<Task> {
  return http.post<Task>(`/boards/${encodeURIComponent(input.boardId)}/tasks`, {
    status: "todo",
    tags: [],
    ...input,
  });
}

export function updateTask(taskId: string, patch: TaskPatch): Promise<Task> {
  return http.patch<Task>(`/tasks/${encodeURIComponent(taskId)}`, patch);
}

export function moveTask(taskId: string, status: TaskStatus): Promise<Task> {
  return updateTask(taskId, { status });
}

export function deleteTask(taskId: string): Promise<void> {
  return http.del(`/tasks/${encodeURIComponent(taskId)}`);
}

export async function fetchUsers(): Promise<User[]> {
  const res = await http.get<UserListResponse>("/users");
  return res.users;
}
