package patch_test
import ("testing"; "os"; "os/exec"; "path/filepath"; "strings"; "fmt"; "github.com/agoranet/agora/patch")
func TestGitDifferential(t *testing.T){
 files, _ := filepath.Glob("/tmp/gitdiff/*.diff")
 bad := 0
 for _, fn := range files {
   data, _ := os.ReadFile(fn)
   p, err := patch.Parse(data)
   cmd := exec.Command("git", "apply", "--numstat", "-z", fn); cmd.Dir = "/tmp"
   out, gerr := cmd.Output()
   if err != nil || gerr != nil {
     if (err == nil) != (gerr == nil) { t.Errorf("%s: ours=%v git=%v", fn, err, gerr); bad++ }
     continue
   }
   // parse git output
   var got []string
   parts := strings.Split(string(out), "\x00")
   for i := 0; i < len(parts); i++ {
     s := parts[i]; if s == "" { continue }
     f := strings.SplitN(s, "\t", 3)
     if f[2] == "" { got = append(got, fmt.Sprintf("%s %s %s=>%s", f[0], f[1], parts[i+1], parts[i+2])); i += 2 } else { got = append(got, fmt.Sprintf("%s %s %s", f[0], f[1], f[2])) }
   }
   var ours []string
   for _, f := range p.Files {
     a, d := fmt.Sprint(f.LinesAdded), fmt.Sprint(f.LinesDeleted)
     if f.Binary { a, d = "-", "-" }
     name := f.NewPath
     if f.Deleted { name = f.OldPath }
     
     ours = append(ours, a+" "+d+" "+name)
   }
   if strings.Join(ours, "\n") != strings.Join(got, "\n") { t.Errorf("%s:\nours %q\ngit  %q", fn, ours, got); bad++ }
   if err := patch.Check(p, patch.Rules{MaxBytes: -1}); err != nil { t.Logf("%s: check: %v", fn, err) }
 }
 t.Logf("%d files, %d bad", len(files), bad)
}
