# Sourced by scripts/serve and scripts/test: a project virtual environment holding exactly the
# versions pinned (with hashes) in requirements/<set>.txt, then the project itself, editable and
# without dependencies. Reinstalled only when that lock file or pyproject.toml changed since
# the last install; `scripts/lock` rewrites the lock files.
install_into_venv() {
    local set="$1" lock="requirements/$1.txt" stamp=".venv/.installed-$1"
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check \
            --require-hashes --no-deps -r "$lock"
        # setuptools explains editable installs in a boxed banner on every install: noise to
        # someone starting the server (the warning filter reaches the build backend's process)
        PYTHONWARNINGS="ignore:Editable installation" \
            .venv/bin/python -m pip install --quiet --disable-pip-version-check \
            --no-deps -e .
        touch "$stamp"
    fi
}
