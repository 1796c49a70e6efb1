import { sampleUsageEvent, type UsageEvent } from "@tollgate/events";

/**
 * The cookbook's test data: a small company's Q4 2026, deterministic (no
 * randomness), so the results printed in sql-cookbook.md can be checked by
 * a test. Two teams; Marketing runs two projects, Research one; users run
 * tasks (sessions) of a task type, several model calls each.
 */
export function cookbookEvents(): UsageEvent[] {
  const events: UsageEvent[] = [];
  const fleets = [
    { team: "marketing", project: "campaign_copy", users: ["mia", "max"], task: "email_draft", model: "gpt-4o-mini" },
    { team: "marketing", project: "seo_fleet", users: ["mia", "leo"], task: "research_summary", model: "gpt-4o" },
    {
      team: "research",
      project: "q4_analysis_fleet",
      users: ["ana", "ben"],
      task: "research_summary",
      model: "gpt-4o",
    },
  ];
  let n = 0;
  for (const [month, days] of [
    [9, 31],
    [10, 30],
    [11, 31],
  ] as const) {
    for (let day = 1; day <= days; day += 3) {
      for (const fleet of fleets) {
        fleet.users.forEach((user, u) => {
          const session = `${fleet.project}-${user}-${month}-${day}`;
          // ben asks for far longer outputs than ana for the same kind of task.
          const heavy = user === "ben" ? 10 : 1;
          for (let call = 0; call < 3; call++) {
            const input = 800 + 100 * call + 10 * u;
            const output = (150 + 25 * call) * heavy;
            const priceIn = fleet.model === "gpt-4o" ? 2.5 : 0.15;
            const priceOut = fleet.model === "gpt-4o" ? 10 : 0.6;
            events.push(
              sampleUsageEvent({
                event_id: `cookbook-${n++}`,
                timestamp_ms: Date.UTC(2026, month, day, 9 + call, 0, 0),
                org_id: "acme",
                team_id: fleet.team,
                project_id: fleet.project,
                user_id: user,
                agent_id: `${fleet.task}-agent`,
                session_id: session,
                task_type: fleet.task,
                model: fleet.model,
                input_tokens: input,
                output_tokens: output,
                total_tokens: input + output,
                cost_micro_usd: Math.round(input * priceIn + output * priceOut),
              }),
            );
          }
        });
      }
    }
  }
  return events;
}
