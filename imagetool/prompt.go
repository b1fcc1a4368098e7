package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"
)

// Asking for credentials on the terminal, as podman and skopeo do when a
// password (or user name) is left out and stdin is a terminal. The
// prompt goes to stderr; the password is read without echo.

// passwordPrompt returns a function asking for a secret, or nil when stdin
// is not a terminal (the caller then says what is missing).
func (g *Globals) passwordPrompt() func(what string) (string, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil
	}
	return func(what string) (string, error) {
		fmt.Fprintf(g.Stderr, "%s: ", what)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(g.Stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password from the terminal: %w", err)
		}
		return string(b), nil
	}
}

// linePrompt asks for a visible answer (a user name) on the terminal, or
// returns nil when stdin is not one.
func (g *Globals) linePrompt() func(what string) (string, error) {
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return nil
	}
	return func(what string) (string, error) {
		fmt.Fprintf(g.Stderr, "%s: ", what)
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("reading from the terminal: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
}
