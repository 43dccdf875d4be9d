package migrationgen_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"entgo.io/ent/dialect/sql/schema"

	"github.com/tenantkit/tenantkit/internal/migrationgen"
)

// tableState describes what ent's diff writes into the tables it is given:
// the column lookup map, each column's index and foreign-key back links and
// key, and each index's name. reflect reads the unexported fields.
func tableState(tables []*schema.Table) string {
	var b strings.Builder
	for _, tb := range tables {
		tv := reflect.ValueOf(tb).Elem()
		fmt.Fprintf(&b, "%s columns-map=%d\n", tb.Name, tv.FieldByName("columns").Len())
		for _, c := range tb.Columns {
			cv := reflect.ValueOf(c).Elem()
			fmt.Fprintf(&b, "  %s key=%q indexes=%d foreign=%t\n", c.Name, c.Key,
				cv.FieldByName("indexes").Len(), !cv.FieldByName("foreign").IsNil())
		}
		for _, idx := range tb.Indexes {
			fmt.Fprintf(&b, "  index %s\n", idx.Name)
		}
	}
	return b.String()
}

// A diff must leave the generated packages' Tables alone: they are process
// globals that other goroutines read (a CI run caught the race between a
// diff and a test copying them), and ent's diff appends to their back links
// on every call. Not parallel, so no other test touches the tables meanwhile.
func TestDiffLeavesGeneratedTablesAlone(t *testing.T) {
	before := map[string]string{}
	for _, tg := range migrationgen.Targets() {
		before[string(tg.Graph)+"/"+tg.Dialect] = tableState(tg.Tables)
	}
	if err := generator(committedRoot).CheckDrift(testContext(t)); err != nil {
		t.Fatalf("CheckDrift: %v", err)
	}
	for _, tg := range migrationgen.Targets() {
		key := string(tg.Graph) + "/" + tg.Dialect
		if after := tableState(tg.Tables); after != before[key] {
			t.Errorf("%s: the diff changed the generated tables\nbefore:\n%s\nafter:\n%s", key, before[key], after)
		}
	}
}
