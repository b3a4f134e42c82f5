// Package forgotinit holds only a test: a package whose tests start a
// backend but have no TestMain calling mp.Init, the mistake
// docs/troubleshooting.md describes. Its test checks what the mistake does.
package forgotinit
