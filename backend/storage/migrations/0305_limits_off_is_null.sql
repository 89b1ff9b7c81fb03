-- A pre-trade limit of 0 used to mean "off"; now null means off and 0 is a limit of zero (it blocks).
-- Stored zeros keep their old meaning: they become null.
UPDATE trading_accounts SET limits = (
    SELECT jsonb_object_agg(k, CASE WHEN k IN ('max_order_qty', 'max_order_notional', 'price_collar_pct',
                                               'max_position_qty', 'max_gross_exposure', 'max_open_orders',
                                               'max_orders_per_window', 'duplicate_window_s')
                                         AND v = '0'::jsonb THEN 'null'::jsonb ELSE v END)
    FROM jsonb_each(limits) AS e(k, v))
WHERE limits <> '{}'::jsonb;
