-- The hand-written checks bench/exports.py times against reconcile_ledger: each query
-- returns the rows it finds wrong (none on a sound ledger). Run one after the other.

-- Every balance equals the sum of its entries.
SELECT a.id FROM billing_creditaccount a
LEFT JOIN (SELECT account_id, SUM(credits) AS total FROM billing_credittransaction
           GROUP BY account_id) e ON e.account_id = a.id
WHERE a.balance <> COALESCE(e.total, 0);

-- Every entry's balance_after is the running sum of its account's entries.
SELECT account_id, id FROM (
    SELECT account_id, id, balance_after,
           SUM(credits) OVER (PARTITION BY account_id ORDER BY id) AS running
    FROM billing_credittransaction) chain
WHERE balance_after <> running;

-- The lots hold max(balance, 0).
SELECT a.id FROM billing_creditaccount a
LEFT JOIN (SELECT account_id, SUM(remaining) AS held FROM billing_creditlot
           GROUP BY account_id) l ON l.account_id = a.id
WHERE COALESCE(l.held, 0) <> GREATEST(a.balance, 0);

-- Every debit since lots began is allocated in full.
SELECT t.id FROM billing_credittransaction t
LEFT JOIN (SELECT entry_id, SUM(credits) AS allocated FROM billing_lotallocation
           GROUP BY entry_id) al ON al.entry_id = t.id
WHERE t.credits < 0 AND t.created_at >= (SELECT MIN(created_at) FROM billing_creditlot)
  AND COALESCE(al.allocated, 0) <> -t.credits;

-- No allocation touched a lot after it expired (but the expiry itself).
SELECT al.id FROM billing_lotallocation al
JOIN billing_credittransaction t ON t.id = al.entry_id
JOIN billing_creditlot l ON l.id = al.lot_id
WHERE t.kind <> 'expiry' AND t.created_at >= l.expires_at;

-- Each lot's remaining is granted minus its allocations.
SELECT l.id FROM billing_creditlot l
LEFT JOIN (SELECT lot_id, SUM(credits) AS drawn FROM billing_lotallocation
           WHERE lot_id IS NOT NULL GROUP BY lot_id) d ON d.lot_id = l.id
WHERE l.remaining <> l.granted - COALESCE(d.drawn, 0);

-- What the finance identity rests on besides the lots' remaining (above): no draw is dated
-- in a month before its lot was created.
SELECT al.id FROM billing_lotallocation al
JOIN billing_credittransaction t ON t.id = al.entry_id
JOIN billing_creditlot l ON l.id = al.lot_id
WHERE date_trunc('month', t.created_at AT TIME ZONE 'Asia/Kolkata')
      < date_trunc('month', l.created_at AT TIME ZONE 'Asia/Kolkata');

-- Leads flagged as a technical error that are still charged, net of refunds.
SELECT l.id FROM leads_lead l
JOIN billing_credittransaction t ON t.lead_id = l.id
WHERE l.technical_error AND t.kind IN ('lead_charge', 'dispute_refund')
GROUP BY l.id HAVING SUM(t.credits) < 0;

-- A clinic's oldest held lead (the head of its queue), older than the alert
-- (HELD_LEAD_ALERT_MINUTES, 60 by default), that the clinic could pay for.
SELECT h.clinic_id, h.id FROM (
    SELECT DISTINCT ON (clinic_id) clinic_id, id, created_at, price_credits FROM leads_lead
    WHERE billing_state = 'held' ORDER BY clinic_id, created_at, id) h
JOIN leads_clinic c ON c.id = h.clinic_id AND c.is_active
JOIN billing_creditaccount a ON a.clinic_id = h.clinic_id
WHERE h.created_at < now() - interval '60 minutes'
  AND a.balance >= h.price_credits - a.overdraft_limit
