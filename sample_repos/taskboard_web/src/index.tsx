import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { setAuthToken } from "./api/client";
import { App } from "./App";

const container = document.getElementById("root");
if (!container) {
  throw new Error("taskboard: #root element missing from index.html");
}

const params = new URLSearchParams(window.location.search);
setAuthToken(window.localStorage.getItem("taskboard.token"));

createRoot(container).render(
  <StrictMode>
    <App boardId={params.get("board") ?? "default"} />
  </StrictMode>,
);
