package main

import (
	"os"
	"path/filepath"
)

// writeURLFile writes url to path, readable by its owner only, whatever
// was there: os.WriteFile keeps the mode of a file that exists (0644: the
// token for every user of the machine) and follows a symbolic link to its
// target. The URL goes to a new file beside path (made with mode 0600),
// then is renamed over it.
func writeURLFile(path, url string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.WriteString(url + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// removeURLFile removes the file at path if it still holds url, as
// writeURLFile wrote it: a file that another run has written since is its.
func removeURLFile(path, url string) {
	if b, err := os.ReadFile(path); err == nil && string(b) == url+"\n" {
		os.Remove(path)
	}
}
