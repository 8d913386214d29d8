/**
 * useTasks(boardId): loads a board's tasks and exposes mutation callbacks.
 *
 * Mutations are optimistic: the store is updated first, the API is called,
 * and on failure the previous task is restored and `error` is set.
 */

import { useCallback, useEffect, useMemo, useReducer, useState } from "react";
import { ApiError } from "../api/client";
import * as tasksApi from "../api/tasks";
import {
  filterChanged,
  filterReset,
  initialTaskState,
  loadFailed,
  loadStarted,
  selectOverdueCount,
  selectVisibleTasks,
  sortChanged,
  taskAdded,
  taskRemoved,
  taskReducer,
  tasksLoaded,
  taskUpdated,
} from "../store/taskStore";
import type { NewTaskInput, SortKey, Task, TaskFilter, TaskPatch, TaskStatus } from "../types";

function describeError(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

export function useTasks(boardId: string, now: Date = new Date()) {
  const [state, dispatch] = useReducer(taskReducer, initialTaskState);
  const [reloadToken, setReloadToken] = useState(0);

  useEffect(() => {
    let cancelled = false;
    dispatch(loadStarted());
    tasksApi
      .fetchTasks(boardId)
      .then((tasks) => {
        if (!cancelled) dispatch(tasksLoaded(tasks));
      })
      .catch((err) => {
        if (!cancelled) dispatch(loadFailed(describeError(err)));
      });
    return () => {
      cancelled = true;
    };
  }, [boardId, reloadToken]);

  const reload = useCallback(() => setReloadToken((n) => n + 1), []);

  const addTask = useCallback(async (input: Omit<NewTaskInput, "boardId">): Promise<Task | null> => {
    try {
      const created = await tasksApi.createTask({ ...input, boardId });
      dispatch(taskAdded(created));
      return created;
    } catch (err) {
      dispatch(loadFailed(describeError(err)));
      return null;
    }
  }, [boardId]);

  const editTask = useCallback(async (task: Task, patch: TaskPatch): Promise<void> => {
    dispatch(taskUpdated({ ...task, ...patch }));
    try {
      dispatch(taskUpdated(await tasksApi.updateTask(task.id, patch)));
    } catch (err) {
      dispatch(taskUpdated(task));
      dispatch(loadFailed(describeError(err)));
    }
  }, []);

  const moveTask = useCallback(
    (task: Task, status: TaskStatus) => editTask(task, { status }),
    [editTask],
  );

  const removeTask = useCallback(async (task: Task): Promise<void> => {
    dispatch(taskRemoved(task.id));
    try {
      await tasksApi.deleteTask(task.id);
    } catch (err) {
      dispatch(taskAdded(task));
      dispatch(loadFailed(describeError(err)));
    }
  }, []);

  const setFilter = useCallback((patch: Partial<TaskFilter>) => dispatch(filterChanged(patch)), []);
  const resetFilter = useCallback(() => dispatch(filterReset()), []);
  const setSortKey = useCallback((key: SortKey) => dispatch(sortChanged(key)), []);

  const dayKey = now.toDateString();
  const visibleTasks = useMemo(() => selectVisibleTasks(state, now), [state, dayKey]);
  const overdueCount = useMemo(() => selectOverdueCount(state, now), [state, dayKey]);

  return {
    tasks: visibleTasks,
    overdueCount,
    filter: state.filter,
    sortKey: state.sortKey,
    loading: state.loading,
    error: state.error,
    addTask,
    editTask,
    moveTask,
    removeTask,
    setFilter,
    resetFilter,
    setSortKey,
    reload,
  };
}

export type UseTasksResult = ReturnType<typeof useTasks>;
