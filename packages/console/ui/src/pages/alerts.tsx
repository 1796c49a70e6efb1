import { useQuery } from "@tanstack/react-query";
import { api, type Session } from "../api";
import { QueryState, Table } from "../components";
import { when } from "../format";

interface Endpoint {
  id: string;
  url: string;
  description?: string | null;
}
interface Delivery {
  id: string;
  event_type: string;
  state: string;
  attempts: number;
  created_at: string;
  payload: { type?: string; data?: Record<string, unknown> };
}

/**
 * Alerts as they reached people: the deliveries of every webhook endpoint
 * (thresholds reached and exhaustion forecasts, by budget and member).
 * Tollgate keeps no other alert history yet (embedded mode logs them).
 */
export function AlertsPage(props: { session: Session }) {
  const admin = props.session.role === "admin";
  const alerts = useQuery({
    queryKey: ["alerts"],
    enabled: admin,
    refetchInterval: 10_000,
    queryFn: async () => {
      const { webhooks } = await api<{ webhooks: Endpoint[] }>("/v1/webhooks");
      const pages = await Promise.all(
        webhooks.map(async (w) => {
          const { deliveries } = await api<{ deliveries: Delivery[] }>(
            `/v1/webhooks/${encodeURIComponent(w.id)}/deliveries?limit=50`,
          );
          return deliveries.map((d) => ({ ...d, endpoint: w.description || w.url }));
        }),
      );
      return { endpoints: webhooks.length, rows: pages.flat() };
    },
  });
  if (!admin) return <p>Alert deliveries are visible to admins; this session is a viewer's.</p>;
  const rows = alerts.data?.rows ?? [];
  return (
    <>
      <QueryState loading={alerts.isPending} error={alerts.error} />
      {alerts.data?.endpoints === 0 && (
        <p>No webhook endpoints yet: alerts reach people through webhooks (POST /v1/webhooks).</p>
      )}
      <Table
        caption="Alert deliveries, newest first"
        rows={rows}
        rowKey={(d) => d.id}
        columns={[
          { header: "When", cell: (d) => when(d.created_at) },
          { header: "Type", cell: (d) => d.event_type },
          { header: "Budget", cell: (d) => String(d.payload.data?.budget_id ?? "—") },
          { header: "Member", cell: (d) => String(d.payload.data?.member ?? "—") },
          { header: "Threshold", cell: (d) => String(d.payload.data?.threshold_pct ?? "—") },
          { header: "Endpoint", cell: (d) => d.endpoint },
          { header: "State", cell: (d) => d.state },
        ]}
      />
    </>
  );
}
