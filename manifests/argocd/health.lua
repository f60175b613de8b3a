-- Argo CD health check for sealift.dev/Promotion (Lua 5.1, as Argo CD's gopher-lua runs it).
-- Installed by argocd-cm-patch.yaml; see docs/argocd.md. Tested by tests/tests/manifests.rs.
--   Merged                    -> Healthy
--   Rejected, Failed, Closed  -> Degraded (message: the Ready condition's message)
--   any other phase           -> Progressing (message: phase, and the pull request URL once open)
--   no status / no phase yet  -> Progressing "Waiting for controller"
local hs = {}

local function ready_message(status)
  if status.conditions ~= nil then
    for _, c in ipairs(status.conditions) do
      if c.type == "Ready" and c.message ~= nil and c.message ~= "" then
        return c.message
      end
    end
  end
  return nil
end

local status = obj.status
if status == nil or status.phase == nil or status.phase == "" then
  hs.status = "Progressing"
  hs.message = "Waiting for controller"
  return hs
end

local phase = status.phase
local pr_url = nil
if status.pullRequest ~= nil and status.pullRequest.url ~= nil and status.pullRequest.url ~= "" then
  pr_url = status.pullRequest.url
end

if phase == "Merged" then
  hs.status = "Healthy"
  hs.message = ready_message(status) or "Merged"
elseif phase == "Rejected" or phase == "Failed" or phase == "Closed" then
  hs.status = "Degraded"
  hs.message = ready_message(status) or phase
else
  hs.status = "Progressing"
  if pr_url ~= nil then
    hs.message = phase .. ": " .. pr_url
  else
    hs.message = phase
  end
end
return hs
