// Package catalogue verifies leakproof's built-in catalogue of known
// offenders against the real libraries.
package catalogue
