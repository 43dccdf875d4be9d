package sqldb

import (
	"database/sql/driver"
	"errors"
	"net"
	"syscall"

	"github.com/lib/pq"
)

// IsUnavailable reports whether err means the database server could not be
// reached or refuses work for now (as opposed to a bad query).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code.Class() {
		case "08", // connection exception
			"53", // insufficient resources (too many connections, disk full)
			"57": // operator intervention (shutdown, cannot connect now)
			return true
		}
		// 3D000: the database does not exist (dropped under us).
		return pqErr.Code == "3D000"
	}
	return false
}

// IsMissingDatabase reports whether err says the database does not exist.
func IsMissingDatabase(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "3D000"
}
