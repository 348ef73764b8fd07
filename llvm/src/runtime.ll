; mini's runtime: buffered output, `@print`, runtime errors (failed contracts among them)
; and process exit, on raw system calls — no C library. Compiled by `runtime.rs`, which
; fills in the target's system call instruction and numbers (the @…@ placeholders).
;
; Standard output is buffered (64 KiB) and flushed when the buffer fills, at exit and
; before a runtime error message; after every line when it is a terminal, as C's stdio
; would do.

@mini_rt_buffer = internal global [65536 x i8] zeroinitializer, align 16
@mini_rt_length = internal global i64 0, align 8
@mini_rt_line_buffered = internal global i8 0, align 1

@mini_rt_true = internal constant [5 x i8] c"true\0A"
@mini_rt_false = internal constant [6 x i8] c"false\0A"
@mini_rt_newline = internal constant [1 x i8] c"\0A"
@mini_rt_division_by_zero_text = internal constant [35 x i8] c"runtime error: division by zero in "
@mini_rt_division_overflow_text = internal constant [47 x i8] c"runtime error: integer overflow in division in "
@mini_rt_precondition_text = internal constant [38 x i8] c"runtime error: precondition failed in "
@mini_rt_postcondition_text = internal constant [39 x i8] c"runtime error: postcondition failed in "

define internal i64 @mini_rt_syscall(i64 %number, i64 %a, i64 %b, i64 %c) #0 {
  %result = call i64 asm sideeffect "@SYSCALL_INSTRUCTION@", "@SYSCALL_CONSTRAINTS@"(i64 %number, i64 %a, i64 %b, i64 %c)
  ret i64 %result
}

; Writes all of `len` bytes, retrying after interruptions; gives up on other errors.
define internal void @mini_rt_write_all(i64 %fd, i8* %data, i64 %len) #0 {
entry:
  br label %loop

loop:
  %at = phi i8* [ %data, %entry ], [ %at, %retry ], [ %next, %advance ]
  %left = phi i64 [ %len, %entry ], [ %left, %retry ], [ %rest, %advance ]
  %done = icmp sle i64 %left, 0
  br i1 %done, label %exit, label %write

write:
  %address = ptrtoint i8* %at to i64
  %written = call i64 @mini_rt_syscall(i64 @SYS_WRITE@, i64 %fd, i64 %address, i64 %left)
  %interrupted = icmp eq i64 %written, -4
  br i1 %interrupted, label %retry, label %check

retry:
  br label %loop

check:
  %failed = icmp slt i64 %written, 0
  br i1 %failed, label %exit, label %advance

advance:
  %next = getelementptr i8, i8* %at, i64 %written
  %rest = sub i64 %left, %written
  br label %loop

exit:
  ret void
}

define void @mini_rt_flush() #0 {
  %len = load i64, i64* @mini_rt_length, align 8
  %data = getelementptr [65536 x i8], [65536 x i8]* @mini_rt_buffer, i64 0, i64 0
  call void @mini_rt_write_all(i64 1, i8* %data, i64 %len)
  store i64 0, i64* @mini_rt_length, align 8
  ret void
}

; Appends `len` (at most 64) bytes to the output buffer.
define internal void @mini_rt_append(i8* %text, i64 %len) #0 {
entry:
  %used = load i64, i64* @mini_rt_length, align 8
  %end = add i64 %used, %len
  %full = icmp ugt i64 %end, 65536
  br i1 %full, label %flush, label %copy

flush:
  call void @mini_rt_flush()
  br label %copy

copy:
  %start = load i64, i64* @mini_rt_length, align 8
  br label %loop

loop:
  %i = phi i64 [ 0, %copy ], [ %i1, %body ]
  %more = icmp ult i64 %i, %len
  br i1 %more, label %body, label %stored

body:
  %from = getelementptr i8, i8* %text, i64 %i
  %byte = load i8, i8* %from, align 1
  %index = add i64 %start, %i
  %to = getelementptr [65536 x i8], [65536 x i8]* @mini_rt_buffer, i64 0, i64 %index
  store i8 %byte, i8* %to, align 1
  %i1 = add i64 %i, 1
  br label %loop

stored:
  %new = add i64 %start, %len
  store i64 %new, i64* @mini_rt_length, align 8
  %line = load i8, i8* @mini_rt_line_buffered, align 1
  %terminal = icmp ne i8 %line, 0
  br i1 %terminal, label %flush_line, label %done

flush_line:
  call void @mini_rt_flush()
  br label %done

done:
  ret void
}

define void @mini_rt_print_i64(i64 %value) #0 {
entry:
  %digits = alloca [24 x i8], align 1
  %newline = getelementptr [24 x i8], [24 x i8]* %digits, i64 0, i64 23
  store i8 10, i8* %newline, align 1
  %negative = icmp slt i64 %value, 0
  %negated = sub i64 0, %value
  ; The magnitude, unsigned: the minimum's negation is itself, which is right as unsigned.
  %magnitude = select i1 %negative, i64 %negated, i64 %value
  br label %loop

loop:
  %i = phi i64 [ 23, %entry ], [ %i1, %loop ]
  %m = phi i64 [ %magnitude, %entry ], [ %quotient, %loop ]
  %quotient = udiv i64 %m, 10
  %remainder = urem i64 %m, 10
  %digit = trunc i64 %remainder to i8
  %char = add i8 %digit, 48
  %i1 = sub i64 %i, 1
  %slot = getelementptr [24 x i8], [24 x i8]* %digits, i64 0, i64 %i1
  store i8 %char, i8* %slot, align 1
  %more = icmp ne i64 %quotient, 0
  br i1 %more, label %loop, label %sign

sign:
  br i1 %negative, label %minus, label %emit

minus:
  %i2 = sub i64 %i1, 1
  %minus_slot = getelementptr [24 x i8], [24 x i8]* %digits, i64 0, i64 %i2
  store i8 45, i8* %minus_slot, align 1
  br label %emit

emit:
  %first = phi i64 [ %i1, %sign ], [ %i2, %minus ]
  %text = getelementptr [24 x i8], [24 x i8]* %digits, i64 0, i64 %first
  %len = sub i64 24, %first
  call void @mini_rt_append(i8* %text, i64 %len)
  ret void
}

define void @mini_rt_print_i32(i32 %value) #0 {
  %wide = sext i32 %value to i64
  call void @mini_rt_print_i64(i64 %wide)
  ret void
}

define void @mini_rt_print_bool(i32 %value) #0 {
entry:
  %true = icmp ne i32 %value, 0
  br i1 %true, label %yes, label %no

yes:
  call void @mini_rt_append(i8* getelementptr ([5 x i8], [5 x i8]* @mini_rt_true, i64 0, i64 0), i64 5)
  ret void

no:
  call void @mini_rt_append(i8* getelementptr ([6 x i8], [6 x i8]* @mini_rt_false, i64 0, i64 0), i64 6)
  ret void
}

; Flushes standard output, then ends the process.
define void @mini_rt_exit(i32 %status) #1 {
  call void @mini_rt_flush()
  %code = sext i32 %status to i64
  %ignored = call i64 @mini_rt_syscall(i64 @SYS_EXIT_GROUP@, i64 %code, i64 0, i64 0)
  unreachable
}

; Reports a runtime error on standard error — after what the program printed — and
; exits with status 101.
define internal void @mini_rt_fail(i8* %what, i64 %what_len, i8* %where) #1 {
entry:
  call void @mini_rt_flush()
  call void @mini_rt_write_all(i64 2, i8* %what, i64 %what_len)
  br label %measure

measure:
  %n = phi i64 [ 0, %entry ], [ %n1, %measure ]
  %char_at = getelementptr i8, i8* %where, i64 %n
  %char = load i8, i8* %char_at, align 1
  %n1 = add i64 %n, 1
  %end = icmp eq i8 %char, 0
  br i1 %end, label %report, label %measure

report:
  call void @mini_rt_write_all(i64 2, i8* %where, i64 %n)
  call void @mini_rt_write_all(i64 2, i8* getelementptr ([1 x i8], [1 x i8]* @mini_rt_newline, i64 0, i64 0), i64 1)
  %ignored = call i64 @mini_rt_syscall(i64 @SYS_EXIT_GROUP@, i64 101, i64 0, i64 0)
  unreachable
}

define void @mini_rt_division_by_zero(i8* %where) #1 {
  call void @mini_rt_fail(i8* getelementptr ([35 x i8], [35 x i8]* @mini_rt_division_by_zero_text, i64 0, i64 0), i64 35, i8* %where)
  unreachable
}

define void @mini_rt_division_overflow(i8* %where) #1 {
  call void @mini_rt_fail(i8* getelementptr ([47 x i8], [47 x i8]* @mini_rt_division_overflow_text, i64 0, i64 0), i64 47, i8* %where)
  unreachable
}

define void @mini_rt_precondition_failed(i8* %where) #1 {
  call void @mini_rt_fail(i8* getelementptr ([38 x i8], [38 x i8]* @mini_rt_precondition_text, i64 0, i64 0), i64 38, i8* %where)
  unreachable
}

define void @mini_rt_postcondition_failed(i8* %where) #1 {
  call void @mini_rt_fail(i8* getelementptr ([39 x i8], [39 x i8]* @mini_rt_postcondition_text, i64 0, i64 0), i64 39, i8* %where)
  unreachable
}

; Where the program starts, called by `_start` (see `runtime.rs`): line-buffers output
; to a terminal, runs the entry wrapper's `main`, exits with its status.
define void @mini_rt_start() #1 {
  %termios = alloca [64 x i8], align 8
  %address = ptrtoint [64 x i8]* %termios to i64
  %result = call i64 @mini_rt_syscall(i64 @SYS_IOCTL@, i64 1, i64 21505, i64 %address)
  %terminal = icmp eq i64 %result, 0
  %flag = zext i1 %terminal to i8
  store i8 %flag, i8* @mini_rt_line_buffered, align 1
  %status = call i32 @main(i32 0, i8** null)
  call void @mini_rt_exit(i32 %status)
  unreachable
}

declare i32 @main(i32, i8**)

attributes #0 = { nounwind "no-builtins" }
attributes #1 = { noreturn nounwind "no-builtins" }
