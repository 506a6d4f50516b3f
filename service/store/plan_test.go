package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// planCases are the paged message queries: each must walk the (room_id, id)
// index from the cursor, so a page costs the same wherever it starts.
func planCases(cursor string) []struct {
	name, before, rangeOp string
	since                 bool
} {
	return []struct {
		name, before, rangeOp string
		since                 bool
	}{
		{name: "HistoryFirstPage"},
		{name: "HistoryBefore", before: cursor, rangeOp: "<"},
		{name: "MessagesSince", before: cursor, rangeOp: ">", since: true},
	}
}

// seedForPlans gives the planner a realistic table, with statistics: the
// room holds half of the messages, amid three others. It returns a cursor
// in the middle of the room.
func seedForPlans(t *testing.T, s Store) string {
	others := []string{"o0", "o1", "o2"}
	for _, r := range append([]string{"r"}, others...) {
		mustRoom(t, s, r, true)
	}
	ids := seedMessages(t, s, "r", 5000, 1, others)
	return ids[len(ids)/2]
}

func TestSQLiteHistoryPlan(t *testing.T) {
	s := open(t, "sqlite:"+t.TempDir()+"/plan.db").(*SQLite)
	cursor := seedForPlans(t, s)
	for _, tc := range planCases(cursor) {
		t.Run(tc.name, func(t *testing.T) {
			q, args := sqliteHistoryQuery("r", tc.before, 51)
			if tc.since {
				q, args = sqliteSinceQuery("r", tc.before, 51)
			}
			rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			want := "SEARCH messages USING INDEX messages_room_id (room_id=?)"
			if tc.rangeOp != "" {
				want = "SEARCH messages USING INDEX messages_room_id (room_id=? AND id" + tc.rangeOp + "?)"
			}
			if len(plan) != 1 || plan[0] != want {
				t.Fatalf("plan:\n\t%s\nwant the single step\n\t%s", strings.Join(plan, "\n\t"), want)
			}
		})
	}
}

func TestPostgresHistoryPlan(t *testing.T) {
	s := open(t, newPostgresURL(t)).(*Postgres)
	cursor := seedForPlans(t, s)
	ctx := t.Context()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// pgx prepares every statement, and after five runs PostgreSQL may keep a
	// generic plan, made without the parameters' values: both must be good.
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		for i, tc := range planCases(cursor) {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				q, args := postgresHistoryQuery("r", tc.before, 51)
				if tc.since {
					q, args = postgresSinceQuery("r", tc.before, 51)
				}
				name := fmt.Sprintf("plan_%s_%d", mode, i)
				for _, stmt := range []string{"SET plan_cache_mode = " + mode, "PREPARE " + name + " AS " + q} {
					if _, err := conn.Exec(ctx, stmt, pgx.QueryExecModeSimpleProtocol); err != nil {
						t.Fatalf("%s: %v", stmt, err)
					}
				}
				rows, err := conn.Query(ctx, "EXPLAIN EXECUTE "+name+"("+placeholders(len(args))+")",
					append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
				if err != nil {
					t.Fatal(err)
				}
				plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					t.Fatal(err)
				}
				text := strings.Join(plan, "\n")
				scan := "Index Scan Backward using messages_pkey"
				if tc.since {
					scan = "Index Scan using messages_pkey"
				}
				cond := "Index Cond: (room_id = "
				if tc.rangeOp != "" {
					cond = "Index Cond: ((room_id = "
				}
				if !strings.Contains(text, scan) || !strings.Contains(text, cond) ||
					(tc.rangeOp != "" && !strings.Contains(text, ") AND (id "+tc.rangeOp+" ")) ||
					strings.Contains(text, "Filter") || strings.Contains(text, "Sort") || strings.Contains(text, "Seq Scan") {
					t.Fatalf("plan:\n%s\nwant %q with %q and a range on id, no filter, sort or sequential scan", text, scan, cond)
				}
			})
		}
	}
}

// placeholders returns "$1, $2, ..., $n".
func placeholders(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i+1)
	}
	return b.String()
}
