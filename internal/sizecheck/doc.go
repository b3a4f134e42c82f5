// Package sizecheck holds a test of the repository's shape: no Go file over
// 400 lines and no function over 80, so that each file holds one idea and a
// newcomer finds it from its name. The few exceptions are listed in the
// test, each with its reason.
package sizecheck
