// Package portsense is an embeddable library that scans ports and detects
// port scans. This package holds only documentation; see the tour below.
package portsense
