import { useVirtualizer } from "@tanstack/react-virtual";
import { useRef } from "react";
import { num, timeNs } from "./format";
import { OPEN_STATUSES, type Order } from "./blotterState";

const ROW_PX = 28;

/** Orders as a virtualised table: only the visible rows are in the DOM, so 10,000 orders stay smooth. */
export function Blotter(props: { rows: Order[]; onCancel?: (id: string) => void; heightPx?: number }) {
  const scroller = useRef<HTMLDivElement>(null);
  const height = props.heightPx ?? 320;
  const v = useVirtualizer({
    count: props.rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_PX,
    overscan: 10,
    initialRect: { width: 900, height },
  });
  if (props.rows.length === 0) return <p className="muted empty">No orders yet.</p>;
  return (
    <div className="blotter" data-testid="blotter" data-count={props.rows.length}>
      <div className="blotter-row blotter-head">
        <span>time</span><span>id</span><span>account</span><span>symbol</span><span>side</span><span>type</span>
        <span>qty</span><span>price</span><span>filled</span><span>avg</span><span>status</span><span />
      </div>
      <div ref={scroller} className="blotter-body" style={{ height }}>
        <div style={{ height: v.getTotalSize(), position: "relative" }}>
          {v.getVirtualItems().map((item) => {
            const o = props.rows[item.index]!;
            return (
              <div key={o.id} className={`blotter-row status-${o.status}`} data-order={o.id} data-status={o.status}
                style={{ position: "absolute", top: 0, transform: `translateY(${item.start}px)`, height: ROW_PX, width: "100%" }}>
                <span className="mono">{timeNs(o.created_ns)}</span>
                <span className="mono" title={o.client_order_id}>{o.id}</span>
                <span>{o.account_id}</span>
                <span>{o.symbol}</span>
                <span>{o.side}</span>
                <span>{o.type}</span>
                <span>{num(o.qty, 0)}</span>
                <span>{num(o.limit_price ?? o.stop_price)}</span>
                <span>{num(o.filled_qty, 0)}</span>
                <span>{num(o.avg_fill_price)}</span>
                <span title={o.reason ?? undefined}>{o.status}</span>
                <span>
                  {props.onCancel && OPEN_STATUSES.has(o.status) && (
                    <button className="small" onClick={() => props.onCancel?.(o.id)}>cancel</button>
                  )}
                </span>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
