package registry

import (
	"testing"
	"time"
)

// A provisioning is never considered stalled (and retried, running twice
// on one database) while it may still be within its own time bound.
func TestStaleAfterOutlastsTheProvisionTimeout(t *testing.T) {
	for _, tc := range []struct {
		provision, stale, want time.Duration
	}{
		{0, 0, 10 * time.Minute},
		{2 * time.Minute, 0, 10 * time.Minute},
		{15 * time.Minute, 0, 30 * time.Minute},
		{time.Minute, 5 * time.Minute, 5 * time.Minute},
		{10 * time.Minute, 5 * time.Minute, 20 * time.Minute},
	} {
		s := New(Options{ProvisionTimeout: tc.provision, StaleAfter: tc.stale})
		if s.staleAfter != tc.want {
			t.Errorf("ProvisionTimeout %v, StaleAfter %v: stale after %v, want %v", tc.provision, tc.stale, s.staleAfter, tc.want)
		}
	}
}
