# ci/appliance's stand-in for the parts of OpenWrt's /lib/functions.sh that init scripts use:
# config_load (UCI files in /etc/config, read here with awk instead of /sbin/uci),
# config_get, config_get_bool, user_exists. Sourced by /etc/rc.common.

# config_load PACKAGE: every "option NAME 'VALUE'" of every "config TYPE 'SECTION'" in
# /etc/config/PACKAGE becomes CONFIG_<SECTION>_<NAME>.
config_load() {
	local file=/etc/config/$1
	[ -f "$file" ] || return 1
	eval "$(awk '
		function unquote(s) { gsub(/^["\047]|["\047]$/, "", s); return s }
		$1 == "config" { section = ($3 != "") ? unquote($3) : "cfg" NR; next }
		$1 == "option" && section != "" {
			value = $0
			sub(/^[ \t]*option[ \t]+[^ \t]+[ \t]+/, "", value)
			value = unquote(value)
			gsub(/\047/, "\047\\\047\047", value)
			printf "CONFIG_%s_%s=\047%s\047\n", section, $2, value
		}' "$file")"
}

# config_get VAR SECTION OPTION [DEFAULT]
config_get() {
	local value
	eval "value=\${CONFIG_$2_$3-}"
	[ -n "$value" ] || value=$4
	eval "$1=\$value"
}

# config_get_bool VAR SECTION OPTION [DEFAULT]: 1 or 0.
config_get_bool() {
	local value
	config_get value "$2" "$3" "$4"
	case $value in
	1 | on | true | yes | enabled) value=1 ;;
	0 | off | false | no | disabled) value=0 ;;
	*) value=$4 ;;
	esac
	eval "$1=\$value"
}

user_exists() {
	grep -qs "^$1:" /etc/passwd
}
