from alpine
run echo a
copy . .
