# Sourced by scripts/serve and scripts/test: a project virtual environment, (re)installed
# only when pyproject.toml changed since the last install.
install_into_venv() {
    local target="$1" stamp=".venv/.installed-$(echo "$1" | tr -c 'a-z' '_')"
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --upgrade pip
        # setuptools explains editable installs in a boxed banner on every install: noise to
        # someone starting the server (the warning filter reaches the build backend's process)
        PYTHONWARNINGS="ignore:Editable installation" \
            .venv/bin/python -m pip install --quiet -e "$target"
        touch "$stamp"
    fi
}
