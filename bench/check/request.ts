/** The check every bench sends: three budget levels' worth of identity, reserving, priced on gpt-4o. */
export const CHECK_BODY = JSON.stringify({
  org_id: "bench-org",
  project_id: "bench-project",
  user_id: "bench-user",
  agent_id: "bench-agent",
  model: "gpt-4o",
  input_tokens: 1200,
  max_output_tokens: 800,
  reserve: true,
});
