// Package units parses and prints byte sizes and rates ("16MiB", "1MiB/s").
// Pure; standard library only.
package units
