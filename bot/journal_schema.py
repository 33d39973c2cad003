"""The journal's schema: one SQL script per version, applied in order by `bot.journal`.

A version, once released, never changes: a new column or table is a new script at the end. The
journal records the version it is at (`PRAGMA user_version`) and refuses a file newer than it knows.
"""

MIGRATIONS: tuple[str, ...] = (
    # v1
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE rebalances (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        status TEXT NOT NULL,            -- running | done | halted | failed | interrupted
        reason TEXT NOT NULL DEFAULT '',
        mode TEXT NOT NULL,
        value_before TEXT,
        est_cost TEXT,
        report TEXT                      -- JSON summary when finished
    );
    CREATE TABLE legs (
        key TEXT PRIMARY KEY,
        rebalance_id INTEGER NOT NULL REFERENCES rebalances(id),
        seq INTEGER NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        planned TEXT NOT NULL,
        arrival_mid TEXT NOT NULL,
        status TEXT NOT NULL,            -- running | done | halted | failed | interrupted
        reason TEXT NOT NULL DEFAULT '',
        filled TEXT NOT NULL DEFAULT '0',
        cost TEXT NOT NULL DEFAULT '0',
        fees TEXT NOT NULL DEFAULT '0',
        value TEXT NOT NULL DEFAULT '0', -- traded value in the portfolio quote
        started_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE TABLE orders (
        client_id TEXT PRIMARY KEY,
        leg_key TEXT REFERENCES legs(key),
        exchange_id TEXT,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        price TEXT NOT NULL,
        amount TEXT NOT NULL,
        phase TEXT NOT NULL,
        time_in_force TEXT NOT NULL,
        post_only INTEGER NOT NULL,
        status TEXT NOT NULL,            -- intent | open | closed | canceled | expired | rejected
        filled TEXT NOT NULL DEFAULT '0',
        average TEXT,
        fee TEXT NOT NULL DEFAULT '0',
        fee_currency TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX orders_status ON orders(status);
    CREATE TABLE fills (
        trade_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        exchange_order_id TEXT NOT NULL,
        client_id TEXT,
        leg_key TEXT,
        side TEXT NOT NULL,
        amount TEXT NOT NULL,
        price TEXT NOT NULL,
        fee TEXT NOT NULL,
        fee_currency TEXT,
        maker INTEGER,
        ts_ms INTEGER,
        PRIMARY KEY (trade_id, symbol)
    );
    CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY,
        taken_at REAL NOT NULL,
        kind TEXT NOT NULL,              -- before | after | poll
        total TEXT NOT NULL,
        weights TEXT NOT NULL            -- JSON {asset: weight}
    );
    CREATE TABLE halts (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        reason TEXT NOT NULL,
        cleared_at REAL,
        cleared_by TEXT
    );
    """,
    # v2: the value a leg was planned to trade (portfolio quote), so that a leg cut short by a
    # crash still counts toward the daily turnover by what its orders filled.
    """
    ALTER TABLE legs ADD COLUMN planned_value TEXT NOT NULL DEFAULT '0';
    """,
    # v3: whether a leg's fees are the recorded ones (1) or an estimate until its trades are read
    # (0; a reconciliation reads them), and each order's time on the exchange's clock, from which
    # its trades are read.
    """
    ALTER TABLE legs ADD COLUMN fees_settled INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE orders ADD COLUMN exchange_ts INTEGER;
    """,
    # v4: a child order's states are its life's (bot.domain.lifecycle): the time the request
    # really left, and the states' own names. An old intent may have been sent: it is `sent`,
    # from its creation, so reconciliation waits out the receive window before calling it lost.
    """
    ALTER TABLE orders ADD COLUMN sent_at REAL;
    UPDATE orders SET status = 'sent', sent_at = created_at WHERE status = 'intent';
    UPDATE orders SET status = 'partially_filled'
        WHERE status = 'open' AND CAST(filled AS REAL) > 0;
    UPDATE orders SET status = 'filled' WHERE status = 'closed';
    UPDATE orders SET status = 'cancelled' WHERE status = 'canceled';
    UPDATE orders SET status = 'never_arrived' WHERE status = 'not_found';
    """,
    # v5: the account's deposits and withdrawals as the exchange reported them (bot.domain.flows),
    # one row per flow (`key`: kind and the exchange's id), its last reported status.
    """
    CREATE TABLE flows (
        key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,              -- deposit | withdrawal
        exchange_id TEXT NOT NULL,
        asset TEXT NOT NULL,
        amount TEXT NOT NULL,
        fee TEXT NOT NULL,
        status TEXT NOT NULL,            -- pending | ok | failed | canceled | other
        ts_ms INTEGER,
        txid TEXT,
        seen_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX flows_status ON flows(status);
    """,
    # v6: the targets in force, one row per accepted change (bot.journal_targets): where it came
    # from (config, file, url, sighup), which file or URL, and the weights.
    """
    CREATE TABLE targets (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        source TEXT NOT NULL,            -- config | file | url | sighup
        origin TEXT NOT NULL DEFAULT '', -- the file or URL (without its query)
        weights TEXT NOT NULL            -- JSON {asset: weight}
    );
    """,
    # v7: valuation points for the return net of flows (bot.journal_valuations,
    # bot.domain.performance): per poll at most every few minutes, and around every flow; the
    # managed assets' balances and prices, and the balance change flows explained since the last.
    """
    CREATE TABLE valuations (
        id INTEGER PRIMARY KEY,
        taken_at REAL NOT NULL,
        quote TEXT NOT NULL,
        balances TEXT NOT NULL,          -- JSON {asset: amount}
        prices TEXT NOT NULL,            -- JSON {asset: mid in the quote}
        flows TEXT NOT NULL              -- JSON {asset: change explained by flows}
    );
    CREATE INDEX valuations_taken_at ON valuations(taken_at);
    """,
    # v8: commands from the control surface (bot.journal_control): pause, resume, rebalance
    # now, cancel; who sent them (api, telegram, cli) and what they did.
    """
    CREATE TABLE commands (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        command TEXT NOT NULL,           -- pause | resume | rebalance_now | cancel
        source TEXT NOT NULL,            -- api | telegram | cli
        detail TEXT NOT NULL DEFAULT ''
    );
    """,
    # v9: perpetual futures (bot.journal_derivatives): funding paid and received, once per
    # settlement; what the margin guard saw and did (a breach, a transfer, a reduction).
    """
    CREATE TABLE funding (
        id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        asset TEXT NOT NULL,
        amount TEXT NOT NULL,            -- received +, paid -
        ts_ms INTEGER NOT NULL,
        recorded_at REAL NOT NULL,
        PRIMARY KEY (id, symbol)
    );
    CREATE INDEX funding_ts ON funding(ts_ms);
    CREATE TABLE margin_events (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        kind TEXT NOT NULL,              -- breach | transfer | reduce | clear
        symbol TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT ''  -- JSON: the figures behind it
    );
    """,
)
