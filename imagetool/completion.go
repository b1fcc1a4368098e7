package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Shell completion scripts, generated from the command table: command
// names, each command's flags and the global ones; the word after a flag
// that takes a value completes as a file name.

func init() {
	register(&command{
		Name:    "completion",
		Args:    "bash|zsh|fish",
		Summary: "print a shell completion script for bash, zsh or fish",
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if err := wantArgs(args, 1, "bash, zsh or fish"); err != nil {
				return err
			}
			gen := map[string]func(io.Writer){"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}[args[0]]
			if gen == nil {
				return usagef("%q: want bash, zsh or fish", args[0])
			}
			gen(g.Stdout)
			return nil
		},
	})
}

// flagWords spells docs as shells offer them, and lists those taking a value.
func flagWords(docs []flagDoc) (all, valued []string) {
	for _, d := range docs {
		all = append(all, "--"+d.Name)
		if d.Arg != "" {
			valued = append(valued, "--"+d.Name)
		}
		if d.Short != "" {
			all = append(all, "-"+d.Short)
			if d.Arg != "" {
				valued = append(valued, "-"+d.Short)
			}
		}
	}
	return all, valued
}

// valuedFlags lists every flag, of any command, that takes a value.
func valuedFlags() []string {
	_, v := flagWords(globalFlagDocs())
	seen := map[string]bool{}
	for _, f := range v {
		seen[f] = true
	}
	for _, n := range commandNames() {
		_, cv := flagWords(flagDocs(commands[n].Flags))
		for _, f := range cv {
			if !seen[f] {
				seen[f] = true
				v = append(v, f)
			}
		}
	}
	return v
}

func bashCompletion(w io.Writer) {
	globals, _ := flagWords(globalFlagDocs())
	fmt.Fprintf(w, `# bash completion for berth-image (berth-image completion bash)
_berth_image() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local valued=" %s "
    local cmd="" i w skip=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ -n $skip ]]; then skip=""; continue; fi
        case $w in
            --*=*) ;;
            -*) [[ $valued == *" $w "* ]] && skip=1 ;;
            *) cmd=$w; break ;;
        esac
    done
    if [[ $valued == *" $prev "* ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    local flags="%s"
    case $cmd in
`, strings.Join(valuedFlags(), " "), strings.Join(append(globals, "--version", "--help"), " "))
	for _, n := range commandNames() {
		fl, _ := flagWords(flagDocs(commands[n].Flags))
		fmt.Fprintf(w, "        %s) flags=\"%s\" ;;\n", n, strings.Join(append(fl, append(globals, "--help")...), " "))
	}
	fmt.Fprintf(w, `    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "%s" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -F _berth_image berth-image
`, strings.Join(commandNames(), " "))
}

func zshCompletion(w io.Writer) {
	globals, _ := flagWords(globalFlagDocs())
	fmt.Fprintf(w, `#compdef berth-image
# zsh completion for berth-image (berth-image completion zsh > "${fpath[1]}/_berth-image")
_berth-image() {
    local -a cmds flags valued
    cmds=(
`)
	for _, n := range commandNames() {
		fmt.Fprintf(w, "        %q\n", n+":"+strings.ReplaceAll(commands[n].Summary, ":", `\:`))
	}
	fmt.Fprintf(w, `    )
    valued=(%s)
    local cmd="" i skip=""
    for ((i = 2; i < CURRENT; i++)); do
        if [[ -n $skip ]]; then skip=""; continue; fi
        case $words[i] in
            --*=*) ;;
            -*) (( ${valued[(Ie)$words[i]]} )) && skip=1 ;;
            *) cmd=$words[i]; break ;;
        esac
    done
    if (( ${valued[(Ie)$words[CURRENT-1]]} )); then
        _files
        return
    fi
    flags=(%s)
    case $cmd in
`, strings.Join(valuedFlags(), " "), strings.Join(append(globals, "--version", "--help"), " "))
	for _, n := range commandNames() {
		fl, _ := flagWords(flagDocs(commands[n].Flags))
		fmt.Fprintf(w, "        %s) flags=(%s) ;;\n", n, strings.Join(append(fl, append(globals, "--help")...), " "))
	}
	fmt.Fprintf(w, `    esac
    if [[ $PREFIX == -* ]]; then
        compadd -- $flags
    elif [[ -z $cmd ]]; then
        _describe 'berth-image command' cmds
    else
        _files
    fi
}
if [[ $funcstack[1] == _berth-image ]]; then
    _berth-image "$@"
else
    compdef _berth-image berth-image
fi
`)
}

func fishCompletion(w io.Writer) {
	fmt.Fprintf(w, "# fish completion for berth-image (berth-image completion fish > ~/.config/fish/completions/berth-image.fish)\n")
	fmt.Fprintf(w, "complete -c berth-image -f\n")
	names := commandNames()
	fmt.Fprintf(w, "set -l __berth_image_cmds %s\n", strings.Join(names, " "))
	for _, n := range names {
		fmt.Fprintf(w, "complete -c berth-image -n 'not __fish_seen_subcommand_from $__berth_image_cmds' -a %s -d %s\n", n, fishQuote(commands[n].Summary))
	}
	line := func(cond string, d flagDoc) {
		fmt.Fprintf(w, "complete -c berth-image%s -l %s", cond, d.Name)
		if d.Short != "" {
			fmt.Fprintf(w, " -s %s", d.Short)
		}
		if d.Arg != "" {
			fmt.Fprintf(w, " -r -F")
		}
		fmt.Fprintf(w, " -d %s\n", fishQuote(d.Usage))
	}
	for _, d := range globalFlagDocs() {
		line("", d)
	}
	fmt.Fprintf(w, "complete -c berth-image -l version -d 'print the version and exit'\n")
	for _, n := range names {
		for _, d := range flagDocs(commands[n].Flags) {
			line(" -n '__fish_seen_subcommand_from "+n+"'", d)
		}
		if commands[n].Args != "" {
			fmt.Fprintf(w, "complete -c berth-image -n '__fish_seen_subcommand_from %s' -F\n", n)
		}
	}
}

func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
